"""What the benchmarks compare the operator with: the least kopf operator, the required writes."""
