// The kafka connector, exported as rxdata/kafka.
export {};
