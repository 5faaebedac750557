"""The portal: the region's Imaging Document Consumer with a web UI (DESIGN.md, steps 4-5)."""
