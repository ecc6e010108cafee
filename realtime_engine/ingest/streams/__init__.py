"""Redis Streams ingress for AVL gateways: the gateway record (``record``) and its consumer."""
