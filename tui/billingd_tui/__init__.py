"""billing-tui: the operator's terminal UI, a client of billingd's control socket.

It talks to the daemon only through ``billingd.control.client``; it never opens the
database. Every socket call runs in a thread worker that posts a message back
(see ``messages.py``), so the UI never blocks on the daemon.
"""
