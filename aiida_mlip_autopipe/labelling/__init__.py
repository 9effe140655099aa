"""Labelling: pw.x single points of the selected structures, collected into training sets."""
