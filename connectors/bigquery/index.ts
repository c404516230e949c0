// The bigquery connector, exported as rxdata/bigquery.
export {};
