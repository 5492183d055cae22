"""HTTP functions, grouped in blueprints that function_app.py registers."""
