"""Image references, their backup names and the backup rules: pure logic, no I/O."""
