"""PACS access: query, retrieve and send over DIMSE and DICOMweb, with a local study cache."""
