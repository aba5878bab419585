FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY legibility legibility
COPY annotations annotations
RUN pip install --no-cache-dir .
COPY . .
# collectstatic needs a key only to import settings; the real one comes from the environment
RUN DEBUG=0 SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput
RUN useradd --create-home legibility
USER legibility
EXPOSE 8000
