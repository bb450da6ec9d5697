"""When the cash arrives: the weekly cash forecast and the cash at risk the worklist is ranked by."""
