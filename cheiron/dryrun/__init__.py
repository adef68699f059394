"""`cheiron plan`: the operator's own rules over a snapshot of the cluster; writes nothing."""
