"""The statistical methods: proportions and their comparison, multiplicity, pooling, power and paired
tests (`proportions`), inequality measures (`inequality`) and monthly series (`trends`). Pure functions
held to independent reference values; nothing here imports any other part of the suite.
"""
