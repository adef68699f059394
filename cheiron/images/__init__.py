"""Image references, their backup names and the backup plan: pure logic, no I/O."""
