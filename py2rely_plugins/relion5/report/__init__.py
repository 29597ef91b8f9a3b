"""`py2rely report`: a static HTML page (index.html plus image files) showing a project's jobs,
FSC curves, maps, angles, classes, bin-1 rounds, ground-truth comparisons and timings.

``collect`` reads the project, ``truth`` compares with a simulated ground truth, ``images`` turns
maps into slice/projection pictures, ``plots`` draws the figures (matplotlib, Agg), ``page``
writes the HTML, ``build`` puts them together (re-drawing only what changed) and ``refresh`` is
the pipeline's hook that rewrites the report after every job.
"""
