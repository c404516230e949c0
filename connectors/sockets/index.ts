// The sockets connector, exported as rxdata/sockets.
export {};
