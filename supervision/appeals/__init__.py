"""Appeals against qualification anomalies (D4), decided by re-comparison with the 运政 registry."""
