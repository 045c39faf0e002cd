"""Services: each public function is one operation, one transaction (R-TX-1)."""
