"""Dinero: login (personal integration or Visma Connect through the pairing relay), the API client,
and the transfer of each Z report to the cash journal (kassekladde)."""
