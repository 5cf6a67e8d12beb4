"""Test support shared by the test folders: processes, servers and clients the tests start."""
