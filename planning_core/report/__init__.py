"""Plan reports and DICOM export.

* :func:`planning_core.report.inputs.load_report_inputs`: a plan file with its image,
  labels and lethal-dose field, re-evaluated when its results are missing or stale;
* :func:`planning_core.report.plan_report.report_plan`: evaluate a plan unless its
  simulation is still valid, then write its report (``cryoplan report`` and the app);
* :func:`planning_core.report.build.build_report`: the A4 PDF report;
* :func:`planning_core.report.dicom_export.export_plan_dicom`: DICOM SEG, Encapsulated
  PDF and Secondary Capture objects in the planning CT's study.

Figures are drawn with matplotlib's Agg canvas; this package never imports Qt or VTK.
"""
