#!/bin/bash
# Runs a class of the broker's jars, as Kafka's own script does.
# shellcheck disable=SC2086 # the options are words to split
exec java ${KAFKA_HEAP_OPTS:--Xmx512m} ${KAFKA_OPTS:-} \
  -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties \
  -cp '/opt/kafka/libs/*' "$@"
