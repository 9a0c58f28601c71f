"""SAF-T Cash Register DK: the authority's codes and the streaming XML writer."""
