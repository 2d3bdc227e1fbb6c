"""`python -m infra.verify --stack NAME`: prove a deployed stack works, from outside, over HTTP.

Run after `pulumi up` (`make verify STACK=NAME`; the deploy workflow runs it after every `up`).
It reads the stack's outputs through the Automation API seam (`infra.tenants.engine.Stack`),
then checks the live endpoints the way a browser, an API client, a chat platform and an attacker
would reach them, printing each check with ✓/✗ and a fix hint. Exit status 0 when every check
passed, 1 when any failed, 2 when the stack or its outputs cannot be read.
"""
