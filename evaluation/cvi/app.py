import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load("cvi.py")
launch_gradio_widget(module)
