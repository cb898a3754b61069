"""Back-fill (reprise d'antériorité): the export format and the resumable worker."""
