"""Calibration and qualification: the calibration round on gold faces, each annotator's standing
(calibrating, qualified, paused), the rolling gold accuracy that pauses, and the lead's reinstating."""
