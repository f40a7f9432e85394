"""Reports: an HTML page of a manipulation with its pictures and figures."""
