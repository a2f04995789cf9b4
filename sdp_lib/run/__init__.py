"""Running the reports: the warm-kernel batch (`batch`), the HTML export and index (`html`) and the
command line (`cli`).
"""
