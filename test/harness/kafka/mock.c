/*
 * A real Kafka-protocol broker for tests: librdkafka's mock cluster, driven over stdin.
 * Prints the bootstrap address on the first stdout line, then answers each command with "ok"
 * (or "error <why>"). Commands: topic <name> <partitions> <replication> | down <id> | up <id>.
 * Exits on stdin EOF, so the cluster dies with the test process that spawned it.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  int brokers = argc > 1 ? atoi(argv[1]) : 1;
  if (brokers < 1) brokers = 1;
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  /* The handle only hosts the mock cluster; it never produces. */
  if (rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "conf: %s\n", errstr);
    return 1;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) {
    fprintf(stderr, "rd_kafka_new: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (!mc) {
    fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
    return 1;
  }
  printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
  fflush(stdout);

  char line[1024];
  while (fgets(line, sizeof line, stdin)) {
    char cmd[32], name[512];
    int a = 0, b = 0, c = 0;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (sscanf(line, "topic %511s %d %d", name, &a, &b) == 3) {
      err = rd_kafka_mock_topic_create(mc, name, a, b);
    } else if (sscanf(line, "errors %d %d %d", &a, &b, &c) == 3 && b > 0 && b <= 100000) {
      /* The next b requests of API key a (cluster-wide) fail with error code c. */
      rd_kafka_resp_err_t *codes = malloc(sizeof *codes * (size_t)b);
      for (int i = 0; i < b; i++) codes[i] = (rd_kafka_resp_err_t)c;
      rd_kafka_mock_push_request_errors_array(mc, (int16_t)a, (size_t)b, codes);
      free(codes);
    } else if (sscanf(line, "clear %d", &a) == 1) {
      rd_kafka_mock_clear_request_errors(mc, (int16_t)a);
    } else if (sscanf(line, "%31s %d", cmd, &a) == 2 && strcmp(cmd, "down") == 0) {
      err = rd_kafka_mock_broker_set_down(mc, a);
    } else if (sscanf(line, "%31s %d", cmd, &a) == 2 && strcmp(cmd, "up") == 0) {
      err = rd_kafka_mock_broker_set_up(mc, a);
    } else {
      printf("error unknown command\n");
      fflush(stdout);
      continue;
    }
    if (err) printf("error %s\n", rd_kafka_err2str(err));
    else printf("ok\n");
    fflush(stdout);
  }
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}
