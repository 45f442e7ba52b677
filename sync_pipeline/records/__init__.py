"""How Salesforce records and values are represented here: the raw mirror format and the parsing of Salesforce
values. Pure and shared: the rules and the store both speak it (neither may import the other)."""
