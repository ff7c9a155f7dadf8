"""SafeTwin's composition root and command line: wires the packages together and runs them."""
