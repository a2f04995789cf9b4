"""What the report notebooks show: each method selects, protects, formats and draws what the evaluation
holds, and returns a view (`views.TableView`, `views.FigureView`). No statistics are computed here.
"""
