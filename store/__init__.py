"""Where records and case documents are kept and queried: one interface, SQLite and Elasticsearch behind it."""
