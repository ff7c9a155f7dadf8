"""The operator dashboard (Plotly Dash); it reads everything from SafeTwin's HTTP API."""
