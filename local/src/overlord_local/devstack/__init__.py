"""The local stacks: what `make dev` and `make up` start, and the bootstrap they share."""
