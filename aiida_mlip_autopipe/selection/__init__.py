"""Selection: the most diverse candidates by farthest point sampling on SOAP, aware of what is labelled."""
