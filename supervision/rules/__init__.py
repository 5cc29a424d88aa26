"""The document rules of spec/RULES.md §1 that need no outside registry: INTAKE_LATE (on waybills and on fund
flows, :mod:`supervision.rules.fund_flows`), INTAKE_TIME_ORDER and the waybill–fund-flow matching rules (MATCH_*).
Each checker is set-based SQL over a set of waybills (or fund flows)."""
