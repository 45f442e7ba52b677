"""One module per step of a sync: read what the step needs (store, Salesforce), apply the rules, write, and return a
result with ``as_metadata()``. The only layer that uses both the store and the Salesforce client; the Dagster assets
in ``defs/`` call these and report what they return."""
