// Reads bodies of the jBPM 6 REST API with the real kie-remote 6.5 wire classes and writes them
// back out: JAXB for XML, a plain Jackson 1.x ObjectMapper for JSON (as the shim's wire module
// describes them). Unknown fields fail both (JAXB through a validation event handler).
// Usage: java -cp 'JARS/*' KieWireRoundTrip.java DIR
// For each DIR/<kind>.xml or DIR/<kind>.json it writes DIR/<kind>.xml.out or .json.out, where
// <kind> is job-result, unit, unit-list, process-list or exception.
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.io.StringReader;
import java.io.StringWriter;
import java.util.Map;
import javax.xml.bind.JAXBContext;
import javax.xml.bind.Marshaller;
import javax.xml.bind.Unmarshaller;
import org.codehaus.jackson.map.ObjectMapper;
import org.kie.services.client.serialization.jaxb.impl.JaxbRestRequestException;
import org.kie.services.client.serialization.jaxb.impl.deploy.JaxbDeploymentJobResult;
import org.kie.services.client.serialization.jaxb.impl.deploy.JaxbDeploymentUnit;
import org.kie.services.client.serialization.jaxb.impl.deploy.JaxbDeploymentUnitList;
import org.kie.services.client.serialization.jaxb.impl.process.JaxbProcessDefinitionList;

public class KieWireRoundTrip {
    static final Map<String, Class<?>> KINDS = Map.of(
        "job-result", JaxbDeploymentJobResult.class,
        "unit", JaxbDeploymentUnit.class,
        "unit-list", JaxbDeploymentUnitList.class,
        "process-list", JaxbProcessDefinitionList.class,
        "exception", JaxbRestRequestException.class);

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        JAXBContext context = JAXBContext.newInstance(KINDS.values().toArray(new Class<?>[0]));
        ObjectMapper mapper = new ObjectMapper();
        try (var files = Files.list(dir)) {
            for (Path file : (Iterable<Path>) files::iterator) {
                String name = file.getFileName().toString();
                if (name.endsWith(".out")) {
                    continue;
                }
                String kind = name.substring(0, name.lastIndexOf('.'));
                Class<?> type = KINDS.get(kind);
                String body = Files.readString(file, StandardCharsets.UTF_8);
                String out;
                if (name.endsWith(".xml")) {
                    Unmarshaller unmarshaller = context.createUnmarshaller();
                    unmarshaller.setEventHandler(event -> false);
                    Object value = unmarshaller.unmarshal(new StringReader(body));
                    if (!type.isInstance(value)) {
                        throw new IllegalStateException(name + " is a " + value.getClass());
                    }
                    Marshaller marshaller = context.createMarshaller();
                    StringWriter writer = new StringWriter();
                    marshaller.marshal(value, writer);
                    out = writer.toString();
                } else {
                    out = mapper.writeValueAsString(mapper.readValue(body, type));
                }
                Files.writeString(dir.resolve(name + ".out"), out, StandardCharsets.UTF_8);
            }
        }
    }
}
