"""Content of deployment units: safe XML parsing, definitions, custom-code policy."""
