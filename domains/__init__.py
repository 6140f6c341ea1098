"""fick.domains: domain plugins (images, molecules, audio). The contract is in ``base``."""
