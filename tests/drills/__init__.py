"""Fault drills (`make drills`): crashes, restarts, load and hostile input on real parts."""
