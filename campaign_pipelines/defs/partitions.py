import dagster as dg

# One partition per campaign request; the sensor and `campaigns create` add them.
campaigns_partitions = dg.DynamicPartitionsDefinition(name="campaigns")
