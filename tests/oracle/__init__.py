"""The billing oracle (issue 9): a reference model of docs/billing-rules.md and the tests
that hold billingd's services and daemon to it."""
