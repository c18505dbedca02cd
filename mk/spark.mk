# A Java runtime for the Spark engine's test (tests/e2e/test_spark_equivalence.py): pyspark and dbt-spark
# come from PyPI with the rest of uv.lock, but Spark runs in a JVM pyspark does not ship. Debian's headless
# OpenJDK 17 (a Java pyspark 4 supports) is installed when no java is found; costlake finds JAVA_HOME from
# the java on PATH (orchestration/warehouse/engine.py), so nothing here names the JVM's folder.
JAVA := $(or $(wildcard $(JAVA_HOME)/bin/java),$(shell command -v java 2>/dev/null),/usr/bin/java)
# Root on the dev machines and in CI; elsewhere go through sudo.
APT_SUDO ?= $(if $(filter 0,$(shell id -u)),,sudo)

$(JAVA):
	$(APT_SUDO) apt-get update
	$(APT_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless
	$(JAVA) -version

TEST_DEPS += $(JAVA)
