"""Day partitions of a table (the position history's, the prediction log's): ``plan``
(pure) decides, ``maintenance`` runs the DDL, ``registry`` names the tables maintained."""
