"""Echo apps for other servers, so the corpus can compare sansketch with its peers."""
