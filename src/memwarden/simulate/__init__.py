"""`memwarden simulate`: perform every signature's real trigger, safely, while a sensor runs, and
report whether each finding arrived."""
