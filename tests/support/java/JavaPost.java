// Sends one POST with Java's built-in HttpClient in its default configuration (which offers an
// upgrade to h2c on plain http://) and prints the status, then the body.
// Usage: java JavaPost.java URL CONTENT-TYPE BODY-FILE [USER:PASSWORD]
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;

public class JavaPost {
    public static void main(String[] args) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(args[0]))
            .timeout(Duration.ofSeconds(60))
            .header("Content-Type", args[1])
            .header("Accept", "application/json")
            .POST(HttpRequest.BodyPublishers.ofFile(Path.of(args[2])));
        if (args.length > 3) {
            String token = Base64.getEncoder().encodeToString(args[3].getBytes());
            request.header("Authorization", "Basic " + token);
        }
        HttpResponse<String> answer = HttpClient.newHttpClient()
            .send(request.build(), HttpResponse.BodyHandlers.ofString());
        System.out.println(answer.statusCode());
        System.out.println(answer.body());
    }
}
