"""Site gateway: XDS-I.b Imaging Document Source in front of a site's PACS, and the policy
enforcement point for its images."""
