"""The position history's day partitions: ``plan`` (pure) decides, ``maintenance`` runs DDL."""
