"""Document templates shipped with billingd; operators can override them in data_dir/templates."""
